var $,xe,ot,T,oe,Z,we,Q,Ie,ie,re,rt,V=Symbol.for("pv"),ee={},te=[],it=/^m(i|n|o|s|text|space)$/,ae=Array.isArray,_e=te.slice,U=Object.assign;function N(t){t&&t.parentNode&&t.remove()}function ue(t,e,n){var o,i,s,r={},a=arguments.length;for(s in e)s=="key"?o=e[s]:s=="ref"&&typeof t!="function"?i=e[s]:r[s]=e[s];return a>2&&(r.children=a>3?_e.call(arguments,2):n),q(t,r,o,i,null)}function q(t,e,n,o,i){var s={type:t,props:e,key:n,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:V,__v:i||++xe,__i:-1,__u:0};return!i&&$.vnode&&$.vnode(s),s}function ne(t){return t.children}function B(t,e){this.props=t,this.context=e,this.__g=0}function L(t,e){if(e==null)return t.__&&L(t.__,t.__i+1);for(var n;e<t.__k.length;e++)if((n=t.__k[e])&&n.__e)return n.__e;return typeof t.type!="function"||t.props.__P?null:L(t)}function at(t){var e,n=t.__v,o=n.__e,i=[],s=[],r=t.__P;r&&((e=U({constructor:V},n)).__v=n.__v+1,$.vnode&&$.vnode(e),le(r,e,n,t.__n,r.namespaceURI,32&n.__u?[o]:null,i,o||L(n),32&n.__u,s),e.__v=n.__v,e.__.__k[e.__i]=e,He(i,e,s),n.__=n.__e=null,e.__e!=o&&Ce(e))}function Ce(t){if((t=t.__)&&t.__c&&!t.props.__P)return t.__e=null,t.__k.some(function(e){return e&&(t.__e=e.__e)}),Ce(t)}function ke(t){(8&t.__g||(t.__g|=8,T.push(t),Z++))&&oe==$.debounceRendering||((oe=$.debounceRendering)||queueMicrotask)(Ee)}function Ee(){try{for(var t,e=1;T.length;)T.length>e&&T.sort(we),t=T.shift(),e=T.length,8&t.__g&&at(t)}finally{(Z=T.length)&&(oe||queueMicrotask)(Ee)}}function Re(t,e,n,o,i,s,r,a,l,c,u){var f,d,_,h,g,m,b=o.__k||te,v=e.length;for(l=_t(n,e,b,l,v),f=0;f<v;f++)(_=n.__k[f])!=null&&(d=~_.__i&&b[_.__i]||ee,_.__i=f,m=le(t,_,d,i,s,r,a,l,c,u),h=_.__e,(d.ref!=_.ref||8&d.__u)&&(d.ref&&ce(d.ref,null,_,d),_.ref&&u.push(_.ref,_.__c||h,_)),g=g||h,4&_.__u?(l=Pe(_,l,t,!d.__v),d.__e&&(d.__e=null)):typeof _.type=="function"&&m!==void 0?l=m:h&&(l=h.nextSibling),_.__u&=-21);return n.__e=g,l}function _t(t,e,n,o,i){var s,r,a,l,c,u,f,d,_,h=n.length,g=h,m=0,b=0,v=t.__k=Array(i);for(s=0;s<i;s++)(r=e[s])!=null&&typeof r!="boolean"&&typeof r!="function"?(typeof r!="object"||r.constructor===String?r=v[s]=q(null,r):ae(r)?r=v[s]=q(ne,{children:r}):r.constructor===V&&r.__b?r=v[s]=q(r.type,r.props,r.key,r.ref,r.__v):v[s]=r,l=s+m,r.__=t,r.__b=t.__b+1,a=null,~(c=r.__i=ut(r,n,l,g))&&(g--,(a=n[c])&&(a.__u|=2)),a&&a.__v?(r.__u|=16,c==l-1?m--:c==l+1?m++:c!=l&&(c>l?m--:m++,b=1)):(~c||(i>h?m--:i<h&&m++),typeof r.type!="function"&&(r.__u|=4))):v[s]=null;if(b){for(u=[],f=[],s=0;s<i;s++)if((r=v[s])&&16&r.__u){for(m=0,d=u.length;m<d;)u[_=m+d>>1]<r.__i?m=_+1:d=_;u[m]=r.__i,f[s]=m+1}for(m=u.length;s--;)f[s]&&(f[s]==m?m--:v[s].__u|=4)}if(g)for(s=0;s<h;s++)!(a=n[s])||2&a.__u||(a.__e==o&&(o=L(a)),de(a,a));return o}function Pe(t,e,n,o){var i,s,r,a;if(typeof t.type=="function"){if(t.props.__P)return e;if(i=t.__k)for(s=0;s<i.length;s++)i[s]&&(i[s].__=t,e=Pe(i[s],e,n,!1));return e}for(e&&!e.parentNode&&(e=L(t))&&!e.parentNode&&(e=null),r=t.__e,a=e;a&&a.nodeType==8;)a=a.nextSibling;for(r!=a&&(!o&&n.moveBefore&&r.parentNode?n.moveBefore(r,e):n.insertBefore(r,e||null)),e=r;(e=e&&e.nextSibling)&&e.nodeType==8&&!e.data.startsWith("$s"););return e}function ut(t,e,n,o){var i,s=t.key,r=t.type,a=e[n],l=a&&!(2&a.__u);if(a===null&&s==null||l&&s==a.key&&r==a.type)return n;if(o>(l?1:0)){for(i=n-1;i>=0;i--)if((a=e[i])&&!(2&a.__u)&&s==a.key&&r==a.type)return i;for(i=n+1;i<e.length;i++)if((a=e[i])&&!(2&a.__u)&&s==a.key&&r==a.type)return i}return-1}function Se(t,e,n){n==null&&(n=""),e[0]=="-"?t.setProperty(e,n):t[e]=n}function Y(t,e,n,o,i){var s,r;if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof o=="string"&&(t.style.cssText=o=""),o)for(e in o)n&&e in n||Se(t.style,e);if(n)for(e in n)o&&n[e]==o[e]||Se(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")typeof n!="function"&&(n=null),typeof o!="function"&&(o=null),(t.__e||(t.__e={}))[e]=n,n&&o||(r=re[e]||(re[e]=lt(e)),(t.__a||(t.__a={}))[e]=ie,s=e!=(e=e.replace(Ie,"$1")),(e=e.slice(2))[0]<"a"&&(e=e.toLowerCase()),n?t.addEventListener(e,r,s):t.removeEventListener(e,r,s));else{if(i=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{return void(t[e]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n)}}function lt(t){return function(e){var n=this.__e;if(n){if(n=n[t],e[Q]==null)e[Q]=ie++;else if(e[Q]<this.__a[t])return;return n($.event?$.event(e):e)}}}function le(t,e,n,o,i,s,r,a,l,c){var u,f,d,_,h,g,m,b,v,k,y,F,W,H,E,w,P,M,j=e.type;if(e.constructor!==V)return null;128&n.__u&&(l=32&n.__u,u=n.__c.__z)&&(e.__u|=l,f=s=[],u.nodeType==8?a=X(u,s):s.push(u),a=s[0]||a),(u=$.__b)&&u(e);e:if(typeof j=="function"){d=r.length;try{if(b=e.props,v=(u=j.prototype)&&u.render,k=(u=j.contextType)&&o[u.__c],y=u?k?k.props.value:u.__:o,(_=n.__c)?(e.__c=_,2&_.__g&&(_.__g|=1)):(v?e.__c=_=new j(b,y):(e.__c=_=new B(b,y),_.constructor=j,_.render=dt),k&&k.sub(_),_.state||(_.state={}),_.__n=o,_.__g|=8,_.__h=[],_.__k=[]),v&&(_.__s||(_.__s=_.state),j.getDerivedStateFromProps&&(_.__s==_.state&&(_.__s=U({},_.__s)),U(_.__s,j.getDerivedStateFromProps(b,_.__s)))),h=_.props,g=_.state,_.__v=e,n.__c){if(b!==h&&v&&!j.getDerivedStateFromProps&&_.componentWillReceiveProps&&_.componentWillReceiveProps(b,y),e.__v==n.__v&&!(8&_.__g)||!(4&_.__g)&&_.shouldComponentUpdate&&_.shouldComponentUpdate(b,_.__s,y)===!1){e.__v!=n.__v&&(_.props=b,_.state=_.__s,_.__g&=-9),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(R){R&&(R.__=e)}),te.push.apply(_.__h,_.__k),_.__k=[],_.__h.length&&r.push(_),a=L(n);break e}_.componentWillUpdate&&_.componentWillUpdate(b,_.__s,y),v&&_.componentDidUpdate&&_.__h.push(function(){_.componentDidUpdate(h,g,m)})}else v&&!j.getDerivedStateFromProps&&_.componentWillMount&&_.componentWillMount(),v&&_.componentDidMount&&_.__h.push(_.componentDidMount);_.context=y,_.props=b,_.__P=t,_.__g&=-5,F=$.__r,W=v?25:0;do _.__g&=-9,F&&F(e),u=_.render(_.props,_.state=_.__s,_.context);while(8&_.__g&&++W<25);v&&(te.push.apply(_.__h,_.__k),_.__k=[]),_.state=_.__s,_.getChildContext&&(o=U({},o,_.getChildContext())),v&&n.__c&&_.getSnapshotBeforeUpdate&&(m=_.getSnapshotBeforeUpdate(h,g)),H=u&&u.type===ne&&u.key==null?u.props.children:u,b.__P&&(u=a,i=(t=b.__P).namespaceURI,l=s=null,n.props&&n.props.__P!=t&&(n.__k.some(function(R){R&&de(R,R)}),n.__k=null),a=n.__k?L(n,0):null),a=Re(t,ae(H)?H:[H],e,n,o,i,s,r,a,l,c),b.__P&&(e.__e=null,a=u),e.__u&=-161,f&&f.some(N),_.__h.length&&r.push(_),1&_.__g&&(_.__g&=-4)}catch(R){if(r.length=d,e.__v=null,l||s)if(R&&R.then){if(e.__u|=128|l,s){for(~(P=s.indexOf(a||void 0))||(P=s.length);(M=s[P-1])&&M.nodeType==8;)P--;for(;P<s.length;P++)if(M=s[P])if(s[P]=null,E){if(M==w)break}else{if(M.nodeType!=8)break;M.data.startsWith("$s")&&(w=X(E=M))}}if(!E){for(;a&&a.nodeType==8&&a.nextSibling;)a=a.nextSibling;E=a}(u=X(E=e.__c.__z||(e.__c.__z=E)))?(e.__e=E,a=u):e.__e=a,a=a&&a.nextSibling}else s&&s.some(N);else e.__e=n.__e;e.__k||(e.__k=n.__k||[]),R&&R.then||je(e),$.__e(R,e,n)}}else a=e.__e=ct(n.__e,e,n,o,i,s,r,l,c,t);return(u=$.diffed)&&u(e),a}function X(t,e){if(t&&t.nodeType==8&&t.data.startsWith("$s"))for(var n=1;t=t.nextSibling;){if(t.nodeType==8){if(t.data.startsWith("$s"))n++;else if(t.data.startsWith("/$s")&&!--n)return t}e&&e.push(t)}}function je(t){t&&(t.__c&&(t.__c.__g|=4),t.__k&&t.__k.some(je))}function He(t,e,n){for(var o=0;o<n.length;)ce(n[o++],n[o++],n[o++]);$.__c&&$.__c(e,t),t.some(function(i){try{t=i.__h,i.__h=[],t.some(function(s){s.call(i)})}catch(s){$.__e(s,i.__v)}})}function ct(t,e,n,o,i,s,r,a,l,c){var u,f,d,_,h,g,m,b,v=n.props||ee,k=e.props,y=e.type;if(y=="svg"?i="http://www.w3.org/2000/svg":y=="math"?i="http://www.w3.org/1998/Math/MathML":i||(i="http://www.w3.org/1999/xhtml"),s){for(u=0;u<s.length;u++)if((h=s[u])&&(y?h.localName==y:h.nodeType==3)){t=h,s[u]=null;break}}if(!t){if(b=c.ownerDocument||document,!y)return b.createTextNode(k);t=b.createElementNS(i,y,k.is?k:c),a&&($.__m&&$.__m(e,s),a=!1),s=null}if(y){if(c=y=="template"&&t.content||t,s=y=="textarea"&&k.defaultValue!=null?null:s&&_e.call(c.childNodes),!a&&s)for(v={},u=0;u<t.attributes.length;u++)v[(h=t.attributes[u]).name]=h.value;for(u in v)h=v[u],u=="dangerouslySetInnerHTML"?d=h:u=="children"||u in k||u=="value"&&"defaultValue"in k||u=="checked"&&"defaultChecked"in k||Y(t,u,null,h,i);for(u in k)h=k[u],u=="children"?_=h:u=="dangerouslySetInnerHTML"?f=h:u=="value"?g=h:u=="checked"?m=h:a&&typeof h!="function"||v[u]===h||Y(t,u,h,v[u],i);f?(a||d&&(f.__html==d.__html||f.__html==t.innerHTML)||(t.innerHTML=f.__html),e.__k=[]):(d&&(t.textContent=""),(y=="foreignObject"||i=="http://www.w3.org/1998/Math/MathML"&&it.test(y))&&(i="http://www.w3.org/1999/xhtml"),Re(c,ae(_)?_:[_],e,n,o,i,s,r,s?s[0]:n.__k&&L(n,0),a,l),s&&s.some(N)),a&&y!="textarea"||(u="value",y=="progress"&&g==null?t.removeAttribute(u):g==null||g===t[u]&&(y!="progress"||g)||Y(t,u,g,v[u],i),u="checked",m!=null&&m!=t[u]&&Y(t,u,m,v[u],i))}else v===k||a&&t.data==k||(t.data=k);return t}function ce(t,e,n,o){try{typeof t=="function"?e?e.__x=t(e)||1:o&&(o=o.__c||o.__e)&&(e=o.__x)&&(o.__x=null,typeof e=="function"?e():t(null)):t.current=e}catch(i){$.__e(i,n)}}function de(t,e,n){var o,i,s,r;if($.unmount&&$.unmount(t),!(o=t.ref)||o.current&&o.current!=t.__e||ce(o,null,e,t),o=t.__c){if(o.componentWillUnmount)try{o.componentWillUnmount()}catch(a){$.__e(a,e)}o.__P=o.__n=null}if(o=t.__k)for(r=0;r<o.length;r++)o[r]&&de(o[r],e,typeof t.type!="function"||n&&!t.props.__P);!n&&(o=t.__c)&&(o=o.__z)&&(i=X(o,s=[]))&&(o==t.__e&&s.some(N),N(i),N(o)),n||N(t.__e),t.__e=t.__c=t.__=null}function dt(t,e,n){return this.constructor(t,n)}function fe(t,e){var n,o,i,s;$.__&&$.__(t,e),e.nodeType==9&&(e=e.documentElement),o=(n=t&&32&t.__u)?null:e.__k,e.__k=q(ne,{children:[t]}),i=[],s=[],le(e,e.__k,o||ee,ee,e.namespaceURI,o?null:e.firstChild?_e.call(e.childNodes):null,i,o?o.__e:e.firstChild,n,s),He(i,e.__k,s),e.__k.props.children=null}$={__e:function(t,e,n,o){for(var i,s,r;e=e.__;)if((i=e.__c)&&!(1&i.__g)){i.__g|=4;try{if((r=(s=i.constructor)&&s.getDerivedStateFromError)&&i.setState(s.getDerivedStateFromError(t)),i.componentDidCatch&&(i.componentDidCatch(t,o||{}),r=1),r&&8&i.__g)return void(i.__g|=2)}catch(a){t=a}}throw Z=0,t}},xe=0,ot=function(t){return t!=null&&t.constructor===V},B.prototype.setState=function(t,e){var n=this.__s;n&&n!=this.state||(n=this.__s=U({},this.state)),typeof t=="function"&&(t=t(U({},n),this.props)),t&&(U(n,t),this.__v&&(e&&this.__k.push(e),ke(this)))},B.prototype.forceUpdate=function(t){this.__v&&(this.__g|=4,t&&this.__h.push(t),ke(this))},B.prototype.render=ne,T=[],Z=0,we=function(t,e){return t.__v.__b-e.__v.__b},Q=Symbol(),Ie=/(PointerCapture)$|Capture$/i,ie=0,re={},rt=0;var z,x,pe,Te,me=Object.is,se=0,We=[],he=[],S=$,Le=S.__b,Me=S.__r,Ne=S.diffed,Ue=S.__c,Ae=S.unmount,De=S.__;function ve(t,e){S.__h&&S.__h(x,t,se||e),se=0;var n=x.__H||(x.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function C(t){return se=1,ft(Ve,t)}function ft(t,e,n){var o=ve(z++,2);if(o.t=t,!o.__c&&(o.__=[n?n(e):Ve(void 0,e),function(s){var r=(o.__N||o.__)[0],a=o.t(r,s);me(r,a)||(o.__N=[a,o.__[1]],o.__c.setState({}))}],o.__c=x,!x.__f)){x.__f=!0;var i=x.shouldComponentUpdate;x.shouldComponentUpdate=function(s,r,a){var l=this.__H;if(!l)return!0;var c=!1,u=this.props!=s;if(l.__.some(function(d){d.__N&&(c=!0,me(d.__[0],d.__N[0])||(u=!0))}),i){var f=i.call(this,s,r,a);return c?f||u:f}return!c||u}}return o.__}function A(t,e){var n=ve(z++,3);!S.__s&&Be(n.__H,e)&&(n.__P=!0,n.__=t,n.u=e,x.__H.__h.push(n))}function qe(t){return se=5,ye(function(){return{current:t}},[])}function ye(t,e){var n=ve(z++,7);return Be(n.__H,e)&&(n.__=t(),n.__H=e),n.__}function pt(){var t;do{for(;t=he.shift();)try{J(t)}catch(n){S.__e(n,{__:(t=t.__P)&&t.__v})}for(;t=We.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some(J),e.__h.some(ge),e.__h=[]}catch(n){e.__h=[],S.__e(n,t.__v)}}}while(he.length)}S.__b=function(t){x=null,Le&&Le(t)},S.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),De&&De(t,e)},S.__r=function(t){Me&&Me(t),z=0;var e=(x=t.__c).__H;e&&(pe==x?x.__h=[]:(e.__h.some(J),e.__h.some(ge),z=0),e.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),pe=x},S.diffed=function(t){Ne&&Ne(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&Oe(We.push(e)),e.__H.__.some(function(n){n.u&&(n.__H=n.u)})),pe=x=null},S.__c=function(t,e){e.some(function(n){try{n.__h.some(J),n.__h=n.__h.filter(function(o){return!o.__||ge(o)})}catch(o){n.__h=[function(){throw o}]}}),Ue&&Ue(t,e)},S.unmount=function(t){Ae&&Ae(t);var e,n,o=t.__c;o&&o.__H&&(o.__H.__.some(function(i){try{if(i.__P&&i.__c){if(n===void 0){for(n=t.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}i.__P=n,Oe(he.push(i))}else J(i)}catch(s){e=s}}),o.__H=void 0,e&&S.__e(e,o.__v))};var Fe=typeof requestAnimationFrame=="function";function mt(t){var e,n=function(){clearTimeout(o),Fe&&cancelAnimationFrame(e),setTimeout(t)},o=setTimeout(n,35);Fe&&(e=requestAnimationFrame(n))}function Oe(t){t!=1&&Te==S.requestAnimationFrame||((Te=S.requestAnimationFrame)||mt)(pt)}function J(t){var e=x,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),x=e}function ge(t){var e=x;t.__c=t.__(),x=e}function Be(t,e){return!t||t.length!=e.length||e.some(function(n,o){return!me(n,t[o])})}function Ve(t,e){return typeof e=="function"?e(t):e}var ze=function(t,e,n,o){var i;e[0]=0;for(var s=1;s<e.length;s++){var r=e[s++],a=e[s]?(e[0]|=r?1:2,n[e[s++]]):e[++s];r===3?o[0]=a:r===4?o[1]=Object.assign(o[1]||{},a):r===5?(o[1]=o[1]||{})[e[++s]]=a:r===6?o[1][e[++s]]+=a+"":r?(i=t.apply(a,ze(t,a,n,["",null])),o.push(i),a[0]?e[0]|=2:(e[s-2]=0,e[s]=i)):o.push(a)}return o},Je=new Map;function Ke(t){var e=Je.get(this);return e||(e=new Map,Je.set(this,e)),(e=ze(this,e.get(t)||(e.set(t,e=(function(n){for(var o,i,s=1,r="",a="",l=[0],c=function(d){s===1&&(d||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?l.push(0,d,r):s===3&&(d||r)?(l.push(3,d,r),s=2):s===2&&r==="..."&&d?l.push(4,d,0):s===2&&r&&!d?l.push(5,0,!0,r):s>=5&&((r||!d&&s===5)&&(l.push(s,0,r,i),s=6),d&&(l.push(s,d,0,i),s=6)),r=""},u=0;u<n.length;u++){u&&(s===1&&c(),c(u));for(var f=0;f<n[u].length;f++)o=n[u][f],s===1?o==="<"?(c(),l=[l],s=3):r+=o:s===4?r==="--"&&o===">"?(s=1,r=""):r=o+r[0]:a?o===a?a="":r+=o:o==='"'||o==="'"?a=o:o===">"?(c(),s=1):s&&(o==="="?(s=5,i=r,r=""):o==="/"&&(s<5||n[u][f+1]===">")?(c(),s===3&&(l=l[0]),s=l,(l=l[0]).push(2,0,s),s=0):o===" "||o==="	"||o===`
`||o==="\r"?(c(),s=2):r+=o),s===3&&r==="!--"&&(s=4,l=l[0])}return c(),l})(t)),e),arguments,[])).length>1?e:e[0]}var p=Ke.bind(ue);var $e="joinery.apiKey",O={key:()=>sessionStorage.getItem($e),signIn:t=>{sessionStorage.setItem($e,t)},signOut:()=>{sessionStorage.removeItem($e)}},K=class extends Error{status;code;constructor(e,n,o){super(o),this.status=e,this.code=n}};async function D(t,e={}){let n=await fetch(t,{method:e.method??"GET",headers:{authorization:`Bearer ${O.key()??""}`}}),o=await n.json().catch(()=>({}));if(!n.ok){let i=o.error;throw new K(n.status,i?.code??"JNY_UNKNOWN",i?.message??n.statusText)}return o}async function Ge(t,e){let{token:n}=await D("/v1/streams/tokens",{method:"POST"}),o=new URL(t,location.href);return o.protocol=location.protocol==="https:"?"wss:":"ws:",o.searchParams.set("token",n),e!==void 0&&o.searchParams.set("lastEventId",e),o.toString()}function be(t,e){let n,o,i=!1,s=[],r=!1,a=0,l=()=>{r=!1;let f=s;s=[],f.length>0&&e.frames(f)},c=async()=>{try{n=new WebSocket(await Ge(t,o))}catch(f){e.status(`cannot open the live stream: ${f.message}`),u();return}n.onopen=()=>{a=0,e.status("live")},n.onmessage=f=>{let d=JSON.parse(f.data);d.type==="event"&&(o=d.id),s.push(d),r||(r=!0,requestAnimationFrame(l))},n.onclose=f=>{if(!i){if(f.code>=4e3&&f.code!==4429){e.status(`the live stream was refused: ${f.reason} (${String(f.code)})`);return}e.status("reconnecting\u2026"),u()}}},u=()=>{i||(a++,setTimeout(()=>{c()},Math.min(1e4,500*2**a)))};return c(),{close(){i=!0,n?.close(1e3,"page left")}}}function Ye(t,e){let n=t.at(-1);if(n===void 0)return{rate:null,etaSeconds:null};let o=t.find(a=>n.at-a.at<=1e4)??n,i=(n.at-o.at)/1e3,s=i>0?(n.seen-o.seen)/i:null,r=s!==null&&s>0&&e!==null?Math.max(0,(e-n.seen)/s):null;return{rate:s,etaSeconds:r}}var G=200;function Qe(t){let e=/^#\/runs\/([0-9a-f-]{36})$/.exec(t);if(e?.[1]!==void 0)return{page:"run",id:e[1]};let n=/^#\/identities\/([0-9a-f-]{36})$/.exec(t);if(n?.[1]!==void 0)return{page:"identity",id:n[1]};let o=/^#\/objects\/([0-9a-f-]{36})\/(.+)$/.exec(t);if(o?.[1]!==void 0&&o[2]!==void 0)try{return{page:"object",applicationId:o[1],externalId:decodeURIComponent(o[2])}}catch{return{page:"runs"}}return{page:"runs"}}function ht(){let[t,e]=C(Qe(location.hash));return A(()=>{let n=()=>{e(Qe(location.hash))};return addEventListener("hashchange",n),()=>{removeEventListener("hashchange",n)}},[]),t}var gt=new Intl.NumberFormat,I=t=>t==null?"\u2013":gt.format(t),vt=t=>t===null?"\u2013":t<90?`${String(Math.round(t))} s`:`${String(Math.round(t/60))} min`;function yt(t){let[e,n]=C(""),[o,i]=C(null);return p`<form class="sign-in" onSubmit=${async r=>{r.preventDefault(),O.signIn(e.trim());try{await D("/v1/tenant"),t.onSignedIn()}catch(a){O.signOut(),i(a instanceof K?a.message:String(a))}}}>
    <h1>Joinery</h1>
    <label for="api-key">API key</label>
    <input
      id="api-key"
      type="password"
      autocomplete="off"
      value=${e}
      onInput=${r=>{n(r.target.value)}}
    />
    <p class="hint">Kept in this tab only (sessionStorage); used to call the API and open live streams.</p>
    <button type="submit">Sign in</button>
    ${o===null?null:p`<p class="error" role="alert">${o}</p>`}
  </form>`}function $t(){let[t,e]=C(null),[n,o]=C(null);return A(()=>{let i=!0,s=async()=>{try{let a=await D("/v1/runs?limit=50");i&&e(a.items)}catch(a){i&&o(a.message)}};s();let r=setInterval(()=>{s()},2e3);return()=>{i=!1,clearInterval(r)}},[]),n!==null?p`<p class="error">${n}</p>`:t===null?p`<p>Loading sync runs…</p>`:p`<section>
    <h2>Sync runs</h2>
    <table class="runs">
      <thead>
        <tr>
          <th>Started</th>
          <th>Application</th>
          <th>Kind</th>
          <th>Status</th>
          <th>Seen</th>
          <th>Rejected</th>
        </tr>
      </thead>
      <tbody>
        ${t.map(i=>p`<tr key=${i.id}>
              <td>
                <a href=${`#/runs/${i.id}`} data-run=${i.id}
                  >${new Date(i.startedAt).toLocaleString()}</a
                >
              </td>
              <td class="id">${i.applicationId.slice(0,8)}</td>
              <td>${i.kind??""}</td>
              <td><span class=${`status ${i.status}`}>${i.status}</span></td>
              <td class="n">${I(i.seen)}</td>
              <td class="n">${I(i.rejected)}</td>
            </tr>`)}
      </tbody>
    </table>
  </section>`}function bt(t){let[e,n]=C({progress:null,events:[],errors:[],received:0,dropped:0,notices:[]}),[o,i]=C("connecting\u2026"),[s,r]=C([]),a=qe([]);A(()=>{a.current=[];let g=be(`/v1/streams?run=${t.id}`,{status:i,frames:m=>{n(b=>{let{progress:v,events:k,errors:y,received:F,dropped:W,notices:H}=b,E=[];for(let w of m)w.type==="snapshot"||w.type==="progress"?(v=w.run,a.current.push({at:Date.parse(w.run.at),seen:w.run.stages.import.seen}),a.current.length>100&&a.current.splice(0,50)):w.type==="event"?(F++,E.push({id:w.id,event:w.event})):w.type==="dropped"?W+=w.count:w.type==="missed"&&(H=[...H,w.message].slice(-5));if(E.length>0){k=[...E.slice(-G).reverse(),...k].slice(0,G);let w=E.filter(({event:P})=>P.level==="error"||P.outcome==="failed");w.length>0&&(y=[...w.reverse(),...y].slice(0,G))}return{progress:v,events:k,errors:y,received:F,dropped:W,notices:H}})}});return()=>{g.close()}},[t.id]);let l=e.progress?.stages.import.rejected??0;A(()=>{l!==0&&D(`/v1/runs/${t.id}/errors?limit=100`).then(g=>{r(g.items)})},[t.id,l]);let c=e.progress,u=c?.stages.import,{rate:f,etaSeconds:d}=ye(()=>Ye(a.current,u?.total??null),[c]),_=c!==null&&["completed","aborted","failed","incomplete","discarded"].includes(c.status),h=u?.total?Math.min(100,100*u.seen/u.total):null;return p`<section>
    <h2>Sync run <span class="id">${t.id}</span></h2>
    <p class="stream-status" data-stream-status=${o}>Stream: ${o}</p>
    ${c===null?p`<p>Waiting for the run's counters…</p>`:p`<div class="run-summary">
            <p>
              Status:${" "}
              <strong data-run-status=${c.status} class=${`status ${c.status}`}
                >${c.status}</strong
              >
              ${c.reason===null?null:p` — ${c.reason}`}
            </p>
            <table class="stages">
              <thead>
                <tr>
                  <th>Stage</th>
                  <th>Done</th>
                  <th>Of</th>
                  <th>Rate</th>
                  <th>ETA</th>
                  <th>Other</th>
                </tr>
              </thead>
              <tbody>
                <tr data-stage="import">
                  <td>Import</td>
                  <td class="n" data-count="seen">${I(u?.seen)}</td>
                  <td class="n" data-count="total">${I(u?.total)}</td>
                  <td class="n">${_||f===null?"\u2013":`${I(Math.round(f))}/s`}</td>
                  <td class="n">${_?"\u2013":vt(d)}</td>
                  <td>
                    rejected <span data-count="rejected">${I(u?.rejected)}</span>, deleted
                    ${I(u?.deletions)}
                  </td>
                </tr>
                <tr data-stage="join">
                  <td>Join</td>
                  <td class="n" data-count="joined">${I(c.stages.join?.joined)}</td>
                  <td class="n">${I(u?.seen)}</td>
                  <td></td>
                  <td></td>
                  <td>
                    conflicts ${I(c.stages.join?.conflicts)}, unjoined
                    ${I(c.stages.join?.unjoined)}
                  </td>
                </tr>
                <tr data-stage="export">
                  <td>Export</td>
                  <td class="n" data-count="delivered">${I(c.stages.export?.delivered)}</td>
                  <td class="n"></td>
                  <td></td>
                  <td></td>
                  <td>
                    queued <span data-count="queued">${I(c.stages.export?.queued)}</span>, held
                    <span data-count="held">${I(c.stages.export?.held)}</span>, failed
                    <span data-count="failed">${I(c.stages.export?.failed)}</span>, sandbox
                    ${I(c.stages.export?.sandbox)}
                  </td>
                </tr>
              </tbody>
            </table>
            <progress max="100" value=${h??0} aria-label="import progress"></progress>
          </div>`}
    ${e.notices.map(g=>p`<p class="notice">${g}</p>`)}
    ${e.dropped>0?p`<p class="notice">${I(e.dropped)} events were not shown: this page read too slowly. The counters above are exact.</p>`:null}
    <h3>Errors</h3>
    <ul class="errors">
      ${s.map(g=>p`<li key=${`line-${String(g.line)}`} data-error="rejected-row">line ${g.line}: ${g.reason}</li>`)}
      ${e.errors.map(({id:g,event:m})=>p`<li key=${g} data-error="event">
            ${Xe(m)} ${m.errorCode??""} ${m.reason??m.message}
          </li>`)}
    </ul>
    <h3>Events <small>(${I(e.received)} received; latest ${G} shown)</small></h3>
    <ol class="events">
      ${e.events.map(({id:g,event:m})=>p`<li key=${g}>
            <time>${new Date(m.at).toLocaleTimeString()}</time>
            ${m.stage??m.category}
            ${m.outcome??""} ${Xe(m)} ${m.message}
          </li>`)}
    </ol>
  </section>`}function Xe(t){return t.identityId!==void 0?p`<a href=${`#/identities/${t.identityId}`}
      >${t.externalId??t.identityId.slice(0,8)}</a
    >`:t.externalId===void 0?null:t.applicationId===void 0?p`<code>${t.externalId}</code>`:p`<a href=${st(t.applicationId,t.externalId)}><code>${t.externalId}</code></a>`}var Ze=t=>t===void 0?"\u2205":JSON.stringify(t);function tt(t){let{item:e}=t;return p`<li data-history-event=${e.id}>
    <time datetime=${e.at}>${new Date(e.at).toLocaleString()}</time>${" "}
    <span class="stage">${e.stage??e.category}</span>${" "}
    ${e.outcome===void 0?null:p`<span class=${`outcome ${e.outcome}`}>${e.outcome}</span>`}
    ${" "}${e.message}
    ${e.decidedBy===void 0?null:p` <span class="decided-by" data-decided-by>— ${e.decidedBy.kind} ${e.decidedBy.name}</span>`}
    ${e.actor===void 0?null:p` <span class="actor">by ${e.actor.kind} ${e.actor.name??e.actor.id??""}</span>`}
    ${e.applicationId===void 0||e.externalId===void 0?null:p` <a href=${st(e.applicationId,e.externalId)}><code>${e.externalId}</code></a>`}
    ${e.errorCode===void 0&&e.reason===void 0?null:p`<div class="reason">${e.errorCode??""} ${e.reason??""}</div>`}
    ${e.changes===void 0||e.changes.length===0?null:p`<table class="changes">
            <tbody>
              ${e.changes.map(n=>p`<tr data-change=${n.attribute}>
                    <th>${n.attribute}</th>
                    <td class="old">${Ze(n.old)}</td>
                    <td>→</td>
                    <td class="new">${Ze(n.new)}</td>
                  </tr>`)}
            </tbody>
          </table>`}
  </li>`}function nt(t){let[e,n]=C([]),[o,i]=C(null),[s,r]=C(!0),[a,l]=C(null),[c,u]=C(null),f=async d=>{r(!0);try{let _=t.path.includes("?")?"&":"?",h=await D(`${t.path}${_}limit=50${d===null?"":`&after=${encodeURIComponent(d)}`}`);n(g=>d===null?h.items:[...g,...h.items]),i(h.nextCursor),u(h.notice??null),l(null)}catch(_){l(_.message)}finally{r(!1)}};return A(()=>{f(null)},[t.path]),p`<div class="history" data-history=${s?"loading":"loaded"}>
    <p>
      <button class="link" onClick=${()=>{f(null)}}>Refresh</button>
    </p>
    ${a===null?null:p`<p class="error">${a}</p>`}
    ${c===null?null:p`<p class="hint" data-audit-notice>${c}</p>`}
    ${!s&&e.length===0&&a===null?p`<p class="hint">No events recorded yet.</p>`:null}
    <ol class="events">
      ${e.map(d=>p`<${tt} key=${d.id} item=${d} />`)}
    </ol>
    ${o===null?null:p`<button data-older disabled=${s} onClick=${()=>{f(o)}}>Older events</button>`}
  </div>`}function st(t,e){return`#/objects/${t}/${encodeURIComponent(e)}`}function kt(t){let[e,n]=C(null),[o,i]=C([]);return A(()=>{D(`/v1/identities/${t.id}`).then(n).catch(()=>{n({})});let s=be(`/v1/streams?identity=${t.id}`,{status:()=>{},frames:r=>{let a=r.flatMap(l=>l.type==="event"?[{id:l.id,event:l.event}]:[]);a.length>0&&i(l=>[...a.reverse(),...l].slice(0,G))}});return()=>{s.close()}},[t.id]),p`<section>
    <h2>Identity <span class="id">${t.id}</span></h2>
    <pre class="record">${e===null?"Loading\u2026":JSON.stringify(e,null,2)}</pre>
    <h3>History</h3>
    <${nt} path=${`/v1/identities/${t.id}/history`} />
    <h3>Live <small>(events as they happen)</small></h3>
    <ol class="events live">
      ${o.map(({id:s,event:r})=>p`<${tt} key=${s} item=${{...r,id:s}} />`)}
    </ol>
  </section>`}function St(t){let e=new URLSearchParams({applicationId:t.applicationId,externalId:t.externalId});return p`<section>
    <h2>
      Object <code>${t.externalId}</code> <span class="id">application ${t.applicationId}</span>
    </h2>
    <h3>History</h3>
    <${nt} path=${`/v1/audit?${e.toString()}`} />
  </section>`}var xt={runs:()=>p`<${$t} />`,run:t=>t.page==="run"?p`<${bt} id=${t.id} />`:null,identity:t=>t.page==="identity"?p`<${kt} id=${t.id} />`:null,object:t=>t.page==="object"?p`<${St} applicationId=${t.applicationId} externalId=${t.externalId} />`:null};function wt(){let[t,e]=C(O.key()!==null),n=ht();return t?p`<div class="shell">
    <nav>
      <strong>Joinery</strong>
      <a href="#/runs" class=${n.page==="runs"?"active":""}>Sync runs</a>
      <button
        class="link"
        onClick=${()=>{O.signOut(),e(!1)}}
      >
        Sign out
      </button>
    </nav>
    <main>${xt[n.page](n)}</main>
  </div>`:p`<${yt}
      onSignedIn=${()=>{e(!0)}}
    />`}var et=document.getElementById("app");et!==null&&fe(p`<${wt} />`,et);
