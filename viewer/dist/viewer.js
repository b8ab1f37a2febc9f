var $,we,et,M,se,Z,xe,Q,Ee,ie,oe,tt,J=Symbol.for("pv"),ee={},te=[],nt=/^m(i|n|o|s|text|space)$/,_e=Array.isArray,ae=te.slice,A=Object.assign;function L(t){t&&t.parentNode&&t.remove()}function ue(t,e,n){var s,i,r,o={},_=arguments.length;for(r in e)r=="key"?s=e[r]:r=="ref"&&typeof t!="function"?i=e[r]:o[r]=e[r];return _>2&&(o.children=_>3?ae.call(arguments,2):n),B(t,o,s,i,null)}function B(t,e,n,s,i){var r={type:t,props:e,key:n,ref:s,__k:null,__:null,__b:0,__e:null,__c:null,constructor:J,__v:i||++we,__i:-1,__u:0};return!i&&$.vnode&&$.vnode(r),r}function ne(t){return t.children}function q(t,e){this.props=t,this.context=e,this.__g=0}function H(t,e){if(e==null)return t.__&&H(t.__,t.__i+1);for(var n;e<t.__k.length;e++)if((n=t.__k[e])&&n.__e)return n.__e;return typeof t.type!="function"||t.props.__P?null:H(t)}function rt(t){var e,n=t.__v,s=n.__e,i=[],r=[],o=t.__P;o&&((e=A({constructor:J},n)).__v=n.__v+1,$.vnode&&$.vnode(e),ce(o,e,n,t.__n,o.namespaceURI,32&n.__u?[s]:null,i,s||H(n),32&n.__u,r),e.__v=n.__v,e.__.__k[e.__i]=e,je(i,e,r),n.__=n.__e=null,e.__e!=s&&Pe(e))}function Pe(t){if((t=t.__)&&t.__c&&!t.props.__P)return t.__e=null,t.__k.some(function(e){return e&&(t.__e=e.__e)}),Pe(t)}function ke(t){(8&t.__g||(t.__g|=8,M.push(t),Z++))&&se==$.debounceRendering||((se=$.debounceRendering)||queueMicrotask)(Re)}function Re(){try{for(var t,e=1;M.length;)M.length>e&&M.sort(xe),t=M.shift(),e=M.length,8&t.__g&&rt(t)}finally{(Z=M.length)&&(se||queueMicrotask)(Re)}}function Ie(t,e,n,s,i,r,o,_,c,l,u){var f,d,a,m,g,p,b=s.__k||te,h=e.length;for(c=st(n,e,b,c,h),f=0;f<h;f++)(a=n.__k[f])!=null&&(d=~a.__i&&b[a.__i]||ee,a.__i=f,p=ce(t,a,d,i,r,o,_,c,l,u),m=a.__e,(d.ref!=a.ref||8&d.__u)&&(d.ref&&le(d.ref,null,a,d),a.ref&&u.push(a.ref,a.__c||m,a)),g=g||m,4&a.__u?(c=Ce(a,c,t,!d.__v),d.__e&&(d.__e=null)):typeof a.type=="function"&&p!==void 0?c=p:m&&(c=m.nextSibling),a.__u&=-21);return n.__e=g,c}function st(t,e,n,s,i){var r,o,_,c,l,u,f,d,a,m=n.length,g=m,p=0,b=0,h=t.__k=Array(i);for(r=0;r<i;r++)(o=e[r])!=null&&typeof o!="boolean"&&typeof o!="function"?(typeof o!="object"||o.constructor===String?o=h[r]=B(null,o):_e(o)?o=h[r]=B(ne,{children:o}):o.constructor===J&&o.__b?o=h[r]=B(o.type,o.props,o.key,o.ref,o.__v):h[r]=o,c=r+p,o.__=t,o.__b=t.__b+1,_=null,~(l=o.__i=ot(o,n,c,g))&&(g--,(_=n[l])&&(_.__u|=2)),_&&_.__v?(o.__u|=16,l==c-1?p--:l==c+1?p++:l!=c&&(l>c?p--:p++,b=1)):(~l||(i>m?p--:i<m&&p++),typeof o.type!="function"&&(o.__u|=4))):h[r]=null;if(b){for(u=[],f=[],r=0;r<i;r++)if((o=h[r])&&16&o.__u){for(p=0,d=u.length;p<d;)u[a=p+d>>1]<o.__i?p=a+1:d=a;u[p]=o.__i,f[r]=p+1}for(p=u.length;r--;)f[r]&&(f[r]==p?p--:h[r].__u|=4)}if(g)for(r=0;r<m;r++)!(_=n[r])||2&_.__u||(_.__e==s&&(s=H(_)),de(_,_));return s}function Ce(t,e,n,s){var i,r,o,_;if(typeof t.type=="function"){if(t.props.__P)return e;if(i=t.__k)for(r=0;r<i.length;r++)i[r]&&(i[r].__=t,e=Ce(i[r],e,n,!1));return e}for(e&&!e.parentNode&&(e=H(t))&&!e.parentNode&&(e=null),o=t.__e,_=e;_&&_.nodeType==8;)_=_.nextSibling;for(o!=_&&(!s&&n.moveBefore&&o.parentNode?n.moveBefore(o,e):n.insertBefore(o,e||null)),e=o;(e=e&&e.nextSibling)&&e.nodeType==8&&!e.data.startsWith("$s"););return e}function ot(t,e,n,s){var i,r=t.key,o=t.type,_=e[n],c=_&&!(2&_.__u);if(_===null&&r==null||c&&r==_.key&&o==_.type)return n;if(s>(c?1:0)){for(i=n-1;i>=0;i--)if((_=e[i])&&!(2&_.__u)&&r==_.key&&o==_.type)return i;for(i=n+1;i<e.length;i++)if((_=e[i])&&!(2&_.__u)&&r==_.key&&o==_.type)return i}return-1}function Se(t,e,n){n==null&&(n=""),e[0]=="-"?t.setProperty(e,n):t[e]=n}function Y(t,e,n,s,i){var r,o;if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof s=="string"&&(t.style.cssText=s=""),s)for(e in s)n&&e in n||Se(t.style,e);if(n)for(e in n)s&&n[e]==s[e]||Se(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")typeof n!="function"&&(n=null),typeof s!="function"&&(s=null),(t.__e||(t.__e={}))[e]=n,n&&s||(o=oe[e]||(oe[e]=it(e)),(t.__a||(t.__a={}))[e]=ie,r=e!=(e=e.replace(Ee,"$1")),(e=e.slice(2))[0]<"a"&&(e=e.toLowerCase()),n?t.addEventListener(e,o,r):t.removeEventListener(e,o,r));else{if(i=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{return void(t[e]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n)}}function it(t){return function(e){var n=this.__e;if(n){if(n=n[t],e[Q]==null)e[Q]=ie++;else if(e[Q]<this.__a[t])return;return n($.event?$.event(e):e)}}}function ce(t,e,n,s,i,r,o,_,c,l){var u,f,d,a,m,g,p,b,h,k,y,D,O,j,P,x,C,N,T=e.type;if(e.constructor!==J)return null;128&n.__u&&(c=32&n.__u,u=n.__c.__z)&&(e.__u|=c,f=r=[],u.nodeType==8?_=X(u,r):r.push(u),_=r[0]||_),(u=$.__b)&&u(e);e:if(typeof T=="function"){d=o.length;try{if(b=e.props,h=(u=T.prototype)&&u.render,k=(u=T.contextType)&&s[u.__c],y=u?k?k.props.value:u.__:s,(a=n.__c)?(e.__c=a,2&a.__g&&(a.__g|=1)):(h?e.__c=a=new T(b,y):(e.__c=a=new q(b,y),a.constructor=T,a.render=at),k&&k.sub(a),a.state||(a.state={}),a.__n=s,a.__g|=8,a.__h=[],a.__k=[]),h&&(a.__s||(a.__s=a.state),T.getDerivedStateFromProps&&(a.__s==a.state&&(a.__s=A({},a.__s)),A(a.__s,T.getDerivedStateFromProps(b,a.__s)))),m=a.props,g=a.state,a.__v=e,n.__c){if(b!==m&&h&&!T.getDerivedStateFromProps&&a.componentWillReceiveProps&&a.componentWillReceiveProps(b,y),e.__v==n.__v&&!(8&a.__g)||!(4&a.__g)&&a.shouldComponentUpdate&&a.shouldComponentUpdate(b,a.__s,y)===!1){e.__v!=n.__v&&(a.props=b,a.state=a.__s,a.__g&=-9),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(R){R&&(R.__=e)}),te.push.apply(a.__h,a.__k),a.__k=[],a.__h.length&&o.push(a),_=H(n);break e}a.componentWillUpdate&&a.componentWillUpdate(b,a.__s,y),h&&a.componentDidUpdate&&a.__h.push(function(){a.componentDidUpdate(m,g,p)})}else h&&!T.getDerivedStateFromProps&&a.componentWillMount&&a.componentWillMount(),h&&a.componentDidMount&&a.__h.push(a.componentDidMount);a.context=y,a.props=b,a.__P=t,a.__g&=-5,D=$.__r,O=h?25:0;do a.__g&=-9,D&&D(e),u=a.render(a.props,a.state=a.__s,a.context);while(8&a.__g&&++O<25);h&&(te.push.apply(a.__h,a.__k),a.__k=[]),a.state=a.__s,a.getChildContext&&(s=A({},s,a.getChildContext())),h&&n.__c&&a.getSnapshotBeforeUpdate&&(p=a.getSnapshotBeforeUpdate(m,g)),j=u&&u.type===ne&&u.key==null?u.props.children:u,b.__P&&(u=_,i=(t=b.__P).namespaceURI,c=r=null,n.props&&n.props.__P!=t&&(n.__k.some(function(R){R&&de(R,R)}),n.__k=null),_=n.__k?H(n,0):null),_=Ie(t,_e(j)?j:[j],e,n,s,i,r,o,_,c,l),b.__P&&(e.__e=null,_=u),e.__u&=-161,f&&f.some(L),a.__h.length&&o.push(a),1&a.__g&&(a.__g&=-4)}catch(R){if(o.length=d,e.__v=null,c||r)if(R&&R.then){if(e.__u|=128|c,r){for(~(C=r.indexOf(_||void 0))||(C=r.length);(N=r[C-1])&&N.nodeType==8;)C--;for(;C<r.length;C++)if(N=r[C])if(r[C]=null,P){if(N==x)break}else{if(N.nodeType!=8)break;N.data.startsWith("$s")&&(x=X(P=N))}}if(!P){for(;_&&_.nodeType==8&&_.nextSibling;)_=_.nextSibling;P=_}(u=X(P=e.__c.__z||(e.__c.__z=P)))?(e.__e=P,_=u):e.__e=_,_=_&&_.nextSibling}else r&&r.some(L);else e.__e=n.__e;e.__k||(e.__k=n.__k||[]),R&&R.then||Te(e),$.__e(R,e,n)}}else _=e.__e=_t(n.__e,e,n,s,i,r,o,c,l,t);return(u=$.diffed)&&u(e),_}function X(t,e){if(t&&t.nodeType==8&&t.data.startsWith("$s"))for(var n=1;t=t.nextSibling;){if(t.nodeType==8){if(t.data.startsWith("$s"))n++;else if(t.data.startsWith("/$s")&&!--n)return t}e&&e.push(t)}}function Te(t){t&&(t.__c&&(t.__c.__g|=4),t.__k&&t.__k.some(Te))}function je(t,e,n){for(var s=0;s<n.length;)le(n[s++],n[s++],n[s++]);$.__c&&$.__c(e,t),t.some(function(i){try{t=i.__h,i.__h=[],t.some(function(r){r.call(i)})}catch(r){$.__e(r,i.__v)}})}function _t(t,e,n,s,i,r,o,_,c,l){var u,f,d,a,m,g,p,b,h=n.props||ee,k=e.props,y=e.type;if(y=="svg"?i="http://www.w3.org/2000/svg":y=="math"?i="http://www.w3.org/1998/Math/MathML":i||(i="http://www.w3.org/1999/xhtml"),r){for(u=0;u<r.length;u++)if((m=r[u])&&(y?m.localName==y:m.nodeType==3)){t=m,r[u]=null;break}}if(!t){if(b=l.ownerDocument||document,!y)return b.createTextNode(k);t=b.createElementNS(i,y,k.is?k:l),_&&($.__m&&$.__m(e,r),_=!1),r=null}if(y){if(l=y=="template"&&t.content||t,r=y=="textarea"&&k.defaultValue!=null?null:r&&ae.call(l.childNodes),!_&&r)for(h={},u=0;u<t.attributes.length;u++)h[(m=t.attributes[u]).name]=m.value;for(u in h)m=h[u],u=="dangerouslySetInnerHTML"?d=m:u=="children"||u in k||u=="value"&&"defaultValue"in k||u=="checked"&&"defaultChecked"in k||Y(t,u,null,m,i);for(u in k)m=k[u],u=="children"?a=m:u=="dangerouslySetInnerHTML"?f=m:u=="value"?g=m:u=="checked"?p=m:_&&typeof m!="function"||h[u]===m||Y(t,u,m,h[u],i);f?(_||d&&(f.__html==d.__html||f.__html==t.innerHTML)||(t.innerHTML=f.__html),e.__k=[]):(d&&(t.textContent=""),(y=="foreignObject"||i=="http://www.w3.org/1998/Math/MathML"&&nt.test(y))&&(i="http://www.w3.org/1999/xhtml"),Ie(l,_e(a)?a:[a],e,n,s,i,r,o,r?r[0]:n.__k&&H(n,0),_,c),r&&r.some(L)),_&&y!="textarea"||(u="value",y=="progress"&&g==null?t.removeAttribute(u):g==null||g===t[u]&&(y!="progress"||g)||Y(t,u,g,h[u],i),u="checked",p!=null&&p!=t[u]&&Y(t,u,p,h[u],i))}else h===k||_&&t.data==k||(t.data=k);return t}function le(t,e,n,s){try{typeof t=="function"?e?e.__x=t(e)||1:s&&(s=s.__c||s.__e)&&(e=s.__x)&&(s.__x=null,typeof e=="function"?e():t(null)):t.current=e}catch(i){$.__e(i,n)}}function de(t,e,n){var s,i,r,o;if($.unmount&&$.unmount(t),!(s=t.ref)||s.current&&s.current!=t.__e||le(s,null,e,t),s=t.__c){if(s.componentWillUnmount)try{s.componentWillUnmount()}catch(_){$.__e(_,e)}s.__P=s.__n=null}if(s=t.__k)for(o=0;o<s.length;o++)s[o]&&de(s[o],e,typeof t.type!="function"||n&&!t.props.__P);!n&&(s=t.__c)&&(s=s.__z)&&(i=X(s,r=[]))&&(s==t.__e&&r.some(L),L(i),L(s)),n||L(t.__e),t.__e=t.__c=t.__=null}function at(t,e,n){return this.constructor(t,n)}function fe(t,e){var n,s,i,r;$.__&&$.__(t,e),e.nodeType==9&&(e=e.documentElement),s=(n=t&&32&t.__u)?null:e.__k,e.__k=B(ne,{children:[t]}),i=[],r=[],ce(e,e.__k,s||ee,ee,e.namespaceURI,s?null:e.firstChild?ae.call(e.childNodes):null,i,s?s.__e:e.firstChild,n,r),je(i,e.__k,r),e.__k.props.children=null}$={__e:function(t,e,n,s){for(var i,r,o;e=e.__;)if((i=e.__c)&&!(1&i.__g)){i.__g|=4;try{if((o=(r=i.constructor)&&r.getDerivedStateFromError)&&i.setState(r.getDerivedStateFromError(t)),i.componentDidCatch&&(i.componentDidCatch(t,s||{}),o=1),o&&8&i.__g)return void(i.__g|=2)}catch(_){t=_}}throw Z=0,t}},we=0,et=function(t){return t!=null&&t.constructor===J},q.prototype.setState=function(t,e){var n=this.__s;n&&n!=this.state||(n=this.__s=A({},this.state)),typeof t=="function"&&(t=t(A({},n),this.props)),t&&(A(n,t),this.__v&&(e&&this.__k.push(e),ke(this)))},q.prototype.forceUpdate=function(t){this.__v&&(this.__g|=4,t&&this.__h.push(t),ke(this))},q.prototype.render=ne,M=[],Z=0,xe=function(t,e){return t.__v.__b-e.__v.__b},Q=Symbol(),Ee=/(PointerCapture)$|Capture$/i,ie=0,oe={},tt=0;var z,w,pe,Me,me=Object.is,re=0,Oe=[],he=[],S=$,He=S.__b,Ne=S.__r,Le=S.diffed,Ae=S.__c,De=S.unmount,Ue=S.__;function ve(t,e){S.__h&&S.__h(w,t,re||e),re=0;var n=w.__H||(w.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function I(t){return re=1,ut(Je,t)}function ut(t,e,n){var s=ve(z++,2);if(s.t=t,!s.__c&&(s.__=[n?n(e):Je(void 0,e),function(r){var o=(s.__N||s.__)[0],_=s.t(o,r);me(o,_)||(s.__N=[_,s.__[1]],s.__c.setState({}))}],s.__c=w,!w.__f)){w.__f=!0;var i=w.shouldComponentUpdate;w.shouldComponentUpdate=function(r,o,_){var c=this.__H;if(!c)return!0;var l=!1,u=this.props!=r;if(c.__.some(function(d){d.__N&&(l=!0,me(d.__[0],d.__N[0])||(u=!0))}),i){var f=i.call(this,r,o,_);return l?f||u:f}return!l||u}}return s.__}function U(t,e){var n=ve(z++,3);!S.__s&&qe(n.__H,e)&&(n.__P=!0,n.__=t,n.u=e,w.__H.__h.push(n))}function Be(t){return re=5,ye(function(){return{current:t}},[])}function ye(t,e){var n=ve(z++,7);return qe(n.__H,e)&&(n.__=t(),n.__H=e),n.__}function ct(){var t;do{for(;t=he.shift();)try{V(t)}catch(n){S.__e(n,{__:(t=t.__P)&&t.__v})}for(;t=Oe.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some(V),e.__h.some(ge),e.__h=[]}catch(n){e.__h=[],S.__e(n,t.__v)}}}while(he.length)}S.__b=function(t){w=null,He&&He(t)},S.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),Ue&&Ue(t,e)},S.__r=function(t){Ne&&Ne(t),z=0;var e=(w=t.__c).__H;e&&(pe==w?w.__h=[]:(e.__h.some(V),e.__h.some(ge),z=0),e.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),pe=w},S.diffed=function(t){Le&&Le(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&We(Oe.push(e)),e.__H.__.some(function(n){n.u&&(n.__H=n.u)})),pe=w=null},S.__c=function(t,e){e.some(function(n){try{n.__h.some(V),n.__h=n.__h.filter(function(s){return!s.__||ge(s)})}catch(s){n.__h=[function(){throw s}]}}),Ae&&Ae(t,e)},S.unmount=function(t){De&&De(t);var e,n,s=t.__c;s&&s.__H&&(s.__H.__.some(function(i){try{if(i.__P&&i.__c){if(n===void 0){for(n=t.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}i.__P=n,We(he.push(i))}else V(i)}catch(r){e=r}}),s.__H=void 0,e&&S.__e(e,s.__v))};var Fe=typeof requestAnimationFrame=="function";function lt(t){var e,n=function(){clearTimeout(s),Fe&&cancelAnimationFrame(e),setTimeout(t)},s=setTimeout(n,35);Fe&&(e=requestAnimationFrame(n))}function We(t){t!=1&&Me==S.requestAnimationFrame||((Me=S.requestAnimationFrame)||lt)(ct)}function V(t){var e=w,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),w=e}function ge(t){var e=w;t.__c=t.__(),w=e}function qe(t,e){return!t||t.length!=e.length||e.some(function(n,s){return!me(n,t[s])})}function Je(t,e){return typeof e=="function"?e(t):e}var ze=function(t,e,n,s){var i;e[0]=0;for(var r=1;r<e.length;r++){var o=e[r++],_=e[r]?(e[0]|=o?1:2,n[e[r++]]):e[++r];o===3?s[0]=_:o===4?s[1]=Object.assign(s[1]||{},_):o===5?(s[1]=s[1]||{})[e[++r]]=_:o===6?s[1][e[++r]]+=_+"":o?(i=t.apply(_,ze(t,_,n,["",null])),s.push(i),_[0]?e[0]|=2:(e[r-2]=0,e[r]=i)):s.push(_)}return s},Ve=new Map;function Ke(t){var e=Ve.get(this);return e||(e=new Map,Ve.set(this,e)),(e=ze(this,e.get(t)||(e.set(t,e=(function(n){for(var s,i,r=1,o="",_="",c=[0],l=function(d){r===1&&(d||(o=o.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?c.push(0,d,o):r===3&&(d||o)?(c.push(3,d,o),r=2):r===2&&o==="..."&&d?c.push(4,d,0):r===2&&o&&!d?c.push(5,0,!0,o):r>=5&&((o||!d&&r===5)&&(c.push(r,0,o,i),r=6),d&&(c.push(r,d,0,i),r=6)),o=""},u=0;u<n.length;u++){u&&(r===1&&l(),l(u));for(var f=0;f<n[u].length;f++)s=n[u][f],r===1?s==="<"?(l(),c=[c],r=3):o+=s:r===4?o==="--"&&s===">"?(r=1,o=""):o=s+o[0]:_?s===_?_="":o+=s:s==='"'||s==="'"?_=s:s===">"?(l(),r=1):r&&(s==="="?(r=5,i=o,o=""):s==="/"&&(r<5||n[u][f+1]===">")?(l(),r===3&&(c=c[0]),r=c,(c=c[0]).push(2,0,r),r=0):s===" "||s==="	"||s===`
`||s==="\r"?(l(),r=2):o+=s),r===3&&o==="!--"&&(r=4,c=c[0])}return l(),c})(t)),e),arguments,[])).length>1?e:e[0]}var v=Ke.bind(ue);var $e="joinery.apiKey",F={key:()=>sessionStorage.getItem($e),signIn:t=>{sessionStorage.setItem($e,t)},signOut:()=>{sessionStorage.removeItem($e)}},K=class extends Error{status;code;constructor(e,n,s){super(s),this.status=e,this.code=n}};async function W(t,e={}){let n=await fetch(t,{method:e.method??"GET",headers:{authorization:`Bearer ${F.key()??""}`}}),s=await n.json().catch(()=>({}));if(!n.ok){let i=s.error;throw new K(n.status,i?.code??"JNY_UNKNOWN",i?.message??n.statusText)}return s}async function Ge(t,e){let{token:n}=await W("/v1/streams/tokens",{method:"POST"}),s=new URL(t,location.href);return s.protocol=location.protocol==="https:"?"wss:":"ws:",s.searchParams.set("token",n),e!==void 0&&s.searchParams.set("lastEventId",e),s.toString()}function be(t,e){let n,s,i=!1,r=[],o=!1,_=0,c=()=>{o=!1;let f=r;r=[],f.length>0&&e.frames(f)},l=async()=>{try{n=new WebSocket(await Ge(t,s))}catch(f){e.status(`cannot open the live stream: ${f.message}`),u();return}n.onopen=()=>{_=0,e.status("live")},n.onmessage=f=>{let d=JSON.parse(f.data);d.type==="event"&&(s=d.id),r.push(d),o||(o=!0,requestAnimationFrame(c))},n.onclose=f=>{if(!i){if(f.code>=4e3&&f.code!==4429){e.status(`the live stream was refused: ${f.reason} (${String(f.code)})`);return}e.status("reconnecting\u2026"),u()}}},u=()=>{i||(_++,setTimeout(()=>{l()},Math.min(1e4,500*2**_)))};return l(),{close(){i=!0,n?.close(1e3,"page left")}}}function Ye(t,e){let n=t.at(-1);if(n===void 0)return{rate:null,etaSeconds:null};let s=t.find(_=>n.at-_.at<=1e4)??n,i=(n.at-s.at)/1e3,r=i>0?(n.seen-s.seen)/i:null,o=r!==null&&r>0&&e!==null?Math.max(0,(e-n.seen)/r):null;return{rate:r,etaSeconds:o}}var G=200;function Qe(t){let e=/^#\/runs\/([0-9a-f-]{36})$/.exec(t);if(e?.[1]!==void 0)return{page:"run",id:e[1]};let n=/^#\/identities\/([0-9a-f-]{36})$/.exec(t);return n?.[1]!==void 0?{page:"identity",id:n[1]}:{page:"runs"}}function dt(){let[t,e]=I(Qe(location.hash));return U(()=>{let n=()=>{e(Qe(location.hash))};return addEventListener("hashchange",n),()=>{removeEventListener("hashchange",n)}},[]),t}var ft=new Intl.NumberFormat,E=t=>t==null?"\u2013":ft.format(t),pt=t=>t===null?"\u2013":t<90?`${String(Math.round(t))} s`:`${String(Math.round(t/60))} min`;function mt(t){let[e,n]=I(""),[s,i]=I(null);return v`<form class="sign-in" onSubmit=${async o=>{o.preventDefault(),F.signIn(e.trim());try{await W("/v1/tenant"),t.onSignedIn()}catch(_){F.signOut(),i(_ instanceof K?_.message:String(_))}}}>
    <h1>Joinery</h1>
    <label for="api-key">API key</label>
    <input
      id="api-key"
      type="password"
      autocomplete="off"
      value=${e}
      onInput=${o=>{n(o.target.value)}}
    />
    <p class="hint">Kept in this tab only (sessionStorage); used to call the API and open live streams.</p>
    <button type="submit">Sign in</button>
    ${s===null?null:v`<p class="error" role="alert">${s}</p>`}
  </form>`}function ht(){let[t,e]=I(null),[n,s]=I(null);return U(()=>{let i=!0,r=async()=>{try{let _=await W("/v1/runs?limit=50");i&&e(_.items)}catch(_){i&&s(_.message)}};r();let o=setInterval(()=>{r()},2e3);return()=>{i=!1,clearInterval(o)}},[]),n!==null?v`<p class="error">${n}</p>`:t===null?v`<p>Loading sync runs…</p>`:v`<section>
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
        ${t.map(i=>v`<tr key=${i.id}>
              <td>
                <a href=${`#/runs/${i.id}`} data-run=${i.id}
                  >${new Date(i.startedAt).toLocaleString()}</a
                >
              </td>
              <td class="id">${i.applicationId.slice(0,8)}</td>
              <td>${i.kind??""}</td>
              <td><span class=${`status ${i.status}`}>${i.status}</span></td>
              <td class="n">${E(i.seen)}</td>
              <td class="n">${E(i.rejected)}</td>
            </tr>`)}
      </tbody>
    </table>
  </section>`}function gt(t){let[e,n]=I({progress:null,events:[],errors:[],received:0,dropped:0,notices:[]}),[s,i]=I("connecting\u2026"),[r,o]=I([]),_=Be([]);U(()=>{_.current=[];let g=be(`/v1/streams?run=${t.id}`,{status:i,frames:p=>{n(b=>{let{progress:h,events:k,errors:y,received:D,dropped:O,notices:j}=b,P=[];for(let x of p)x.type==="snapshot"||x.type==="progress"?(h=x.run,_.current.push({at:Date.parse(x.run.at),seen:x.run.stages.import.seen}),_.current.length>100&&_.current.splice(0,50)):x.type==="event"?(D++,P.push({id:x.id,event:x.event})):x.type==="dropped"?O+=x.count:x.type==="missed"&&(j=[...j,x.message].slice(-5));if(P.length>0){k=[...P.slice(-G).reverse(),...k].slice(0,G);let x=P.filter(({event:C})=>C.level==="error"||C.outcome==="failed");x.length>0&&(y=[...x.reverse(),...y].slice(0,G))}return{progress:h,events:k,errors:y,received:D,dropped:O,notices:j}})}});return()=>{g.close()}},[t.id]);let c=e.progress?.stages.import.rejected??0;U(()=>{c!==0&&W(`/v1/runs/${t.id}/errors?limit=100`).then(g=>{o(g.items)})},[t.id,c]);let l=e.progress,u=l?.stages.import,{rate:f,etaSeconds:d}=ye(()=>Ye(_.current,u?.total??null),[l]),a=l!==null&&["completed","aborted","failed","incomplete","discarded"].includes(l.status),m=u?.total?Math.min(100,100*u.seen/u.total):null;return v`<section>
    <h2>Sync run <span class="id">${t.id}</span></h2>
    <p class="stream-status" data-stream-status=${s}>Stream: ${s}</p>
    ${l===null?v`<p>Waiting for the run's counters…</p>`:v`<div class="run-summary">
            <p>
              Status:${" "}
              <strong data-run-status=${l.status} class=${`status ${l.status}`}
                >${l.status}</strong
              >
              ${l.reason===null?null:v` — ${l.reason}`}
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
                  <td class="n" data-count="seen">${E(u?.seen)}</td>
                  <td class="n" data-count="total">${E(u?.total)}</td>
                  <td class="n">${a||f===null?"\u2013":`${E(Math.round(f))}/s`}</td>
                  <td class="n">${a?"\u2013":pt(d)}</td>
                  <td>
                    rejected <span data-count="rejected">${E(u?.rejected)}</span>, deleted
                    ${E(u?.deletions)}
                  </td>
                </tr>
                <tr data-stage="join">
                  <td>Join</td>
                  <td class="n" data-count="joined">${E(l.stages.join?.joined)}</td>
                  <td class="n">${E(u?.seen)}</td>
                  <td></td>
                  <td></td>
                  <td>
                    conflicts ${E(l.stages.join?.conflicts)}, unjoined
                    ${E(l.stages.join?.unjoined)}
                  </td>
                </tr>
              </tbody>
            </table>
            <progress max="100" value=${m??0} aria-label="import progress"></progress>
          </div>`}
    ${e.notices.map(g=>v`<p class="notice">${g}</p>`)}
    ${e.dropped>0?v`<p class="notice">${E(e.dropped)} events were not shown: this page read too slowly. The counters above are exact.</p>`:null}
    <h3>Errors</h3>
    <ul class="errors">
      ${r.map(g=>v`<li key=${`line-${String(g.line)}`} data-error="rejected-row">line ${g.line}: ${g.reason}</li>`)}
      ${e.errors.map(({id:g,event:p})=>v`<li key=${g} data-error="event">
            ${Xe(p)} ${p.errorCode??""} ${p.reason??p.message}
          </li>`)}
    </ul>
    <h3>Events <small>(${E(e.received)} received; latest ${G} shown)</small></h3>
    <ol class="events">
      ${e.events.map(({id:g,event:p})=>v`<li key=${g}>
            <time>${new Date(p.at).toLocaleTimeString()}</time>
            ${p.stage??p.category}
            ${p.outcome??""} ${Xe(p)} ${p.message}
          </li>`)}
    </ol>
  </section>`}function Xe(t){return t.identityId!==void 0?v`<a href=${`#/identities/${t.identityId}`}
      >${t.externalId??t.identityId.slice(0,8)}</a
    >`:t.externalId===void 0?null:v`<code>${t.externalId}</code>`}function vt(t){let[e,n]=I(null),[s,i]=I([]);return U(()=>{W(`/v1/identities/${t.id}`).then(n).catch(()=>{n({})});let r=be(`/v1/streams?identity=${t.id}`,{status:()=>{},frames:o=>{let _=o.flatMap(c=>c.type==="event"?[{id:c.id,event:c.event}]:[]);_.length>0&&i(c=>[..._.reverse(),...c].slice(0,G))}});return()=>{r.close()}},[t.id]),v`<section>
    <h2>Identity <span class="id">${t.id}</span></h2>
    <pre class="record">${e===null?"Loading\u2026":JSON.stringify(e,null,2)}</pre>
    <h3>History</h3>
    <p class="hint">
      The full audit history appears here once the audit API is available; below, what happens to this
      identity live.
    </p>
    <ol class="events">
      ${s.map(({id:r,event:o})=>v`<li key=${r}>
            <time>${new Date(o.at).toLocaleTimeString()}</time> ${o.message}
            ${o.decidedBy===void 0?null:v` (${o.decidedBy.kind} ${o.decidedBy.name})`}
            ${o.changes===void 0?null:v`<ul>
                    ${o.changes.map(_=>v`<li>${_.attribute}: ${JSON.stringify(_.old??null)} → ${JSON.stringify(_.new??null)}</li>`)}
                  </ul>`}
          </li>`)}
    </ol>
  </section>`}var yt={runs:()=>v`<${ht} />`,run:t=>t.page==="run"?v`<${gt} id=${t.id} />`:null,identity:t=>t.page==="identity"?v`<${vt} id=${t.id} />`:null};function $t(){let[t,e]=I(F.key()!==null),n=dt();return t?v`<div class="shell">
    <nav>
      <strong>Joinery</strong>
      <a href="#/runs" class=${n.page==="runs"?"active":""}>Sync runs</a>
      <button
        class="link"
        onClick=${()=>{F.signOut(),e(!1)}}
      >
        Sign out
      </button>
    </nav>
    <main>${yt[n.page](n)}</main>
  </div>`:v`<${mt}
      onSignedIn=${()=>{e(!0)}}
    />`}var Ze=document.getElementById("app");Ze!==null&&fe(v`<${$t} />`,Ze);
